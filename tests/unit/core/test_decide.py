"""decide() on its own: a customer's stored state, its new scoring and the Redis profile in; the decision out."""

from __future__ import annotations

import itertools

from stream_app.core.decide import AudienceMove, Decision, Scored, SegmentChange, decide
from stream_app.core.fold import CustomerState
from stream_app.core.model import Scores, Totals
from stream_app.core.profile import StoredProfile, WriteStatus
from stream_app.core.stored import Stored, remember
from stream_app.core.timeutil import format_us

T = 1_700_000_000_000_000
TOTALS = Totals(frequency=3, monetary_cents=12_345, last_order_us=T, channel="web")
RANKS = (T, 3, 12_345, 4_115)


def scored(seq: int = 2, bv: int = 1, scores: Scores | None = Scores(3, 2, 4, 1), segment: str = "loyal",
           audiences: tuple[str, ...] = (), cause: str = "order") -> Scored:
    ranked = scores is not None
    return Scored(customer_id="c1", seq=seq, boundaries_version=bv, totals=TOTALS if ranked else Totals(),
                  ranks=RANKS if ranked else None, scores=scores, segment=segment if ranked else "",
                  audiences=audiences, rules_fp="fp", cause=cause, occurred_us=T + 5, updated_us=T + 9)


def stored(segment: str | None = None) -> Stored:
    return Stored(CustomerState("c1"), segment=segment)


def seen(seq: int = 1, bv: int = 1, segment: str | None = "loyal", scores=("3", "2", "4", "1"),
         audiences: tuple[str, ...] = ()) -> StoredProfile:
    """A profile as Redis holds it (scores as the hash stores them: strings)."""
    return StoredProfile(seq, bv, segment, scores, audiences)


def test_a_new_customer_is_written_with_a_change_event_from_no_segment():
    d = decide(stored(), scored(), None)
    assert d.status is WriteStatus.WRITTEN
    assert (d.write.seq, d.write.boundaries_version, d.write.segment, d.write.ranks) == (2, 1, "loyal", RANKS)
    assert d.write.scores() == ("3", "2", "4", "1")
    assert d.change == SegmentChange(customer_id="c1", previous_segment=None, segment="loyal",
                                     scores=Scores(3, 2, 4, 1), totals=TOTALS, cause="order",
                                     boundaries_version=1, version=3, occurred_us=T + 5)
    assert d.moves == ()
    assert d.scoring.scores == Scores(3, 2, 4, 1) and d.scoring.segment == "loyal"
    assert (d.scoring.boundaries_version, d.scoring.ranks, d.scoring.rules_fp) == (1, RANKS, "fp")


def test_a_changed_segment_names_the_segment_subscribers_last_saw():
    d = decide(stored("loyal"), scored(scores=Scores(5, 2, 4, 1), segment="champions"), seen(segment="loyal"))
    assert d.status is WriteStatus.WRITTEN
    assert d.change.previous_segment == "loyal" and d.change.segment == "champions"


def test_new_events_with_unchanged_scores_and_segment_write_the_profile_and_send_no_event():
    d = decide(stored("loyal"), scored(seq=3), seen(seq=2))
    assert d.status is WriteStatus.WRITTEN and d.write.seq == 3
    assert d.change is None and d.moves == ()


def test_scores_are_compared_as_scores_not_as_their_text():
    d = decide(stored("loyal"), scored(seq=3), seen(seq=2, scores=("3", "2", "4", "2")))
    assert d.change is not None and d.change.scores == Scores(3, 2, 4, 1)
    unreadable = decide(stored("loyal"), scored(seq=3), seen(seq=2, scores=("3", "x", "4", "1")))
    assert unreadable.change is not None  # not readable as scores: differs from any scoring


def test_a_stale_write_writes_sends_and_records_nothing():
    d = decide(stored("loyal"), scored(seq=2, bv=1), seen(seq=5, bv=1, segment="champions"))
    assert d == Decision(WriteStatus.STALE)


def test_the_same_events_scored_alike_under_newer_boundaries_keep_their_version():
    d = decide(stored("loyal"), scored(seq=2, bv=4, cause="rescore"), seen(seq=2, bv=1))
    assert d.status is WriteStatus.KEPT
    assert d.write.boundaries_version == 1 and d.scoring.boundaries_version == 1
    assert d.change is None


def test_a_re_run_batch_is_the_same_write_and_re_sends_a_change_redis_has_not_seen():
    d = decide(stored(), scored(seq=2, bv=1), seen(seq=2, bv=1, segment=None, scores=None))
    assert d.status is WriteStatus.SAME and d.change is not None and d.change.version == 3


def test_audiences_entered_and_left_are_one_event_each_exits_first():
    d = decide(stored("loyal"), scored(seq=3, audiences=("b", "c")), seen(seq=2, audiences=("a", "b")))
    assert [(m.audience, m.action) for m in d.moves] == [("a", "exit"), ("c", "enter")]
    assert d.moves[1] == AudienceMove(customer_id="c1", audience="c", action="enter", segment="loyal",
                                      scores=Scores(3, 2, 4, 1), monetary_cents=12_345, aov_cents=4_115,
                                      boundaries_version=1, version=4, occurred_us=T + 5)
    assert d.scoring.audiences == ("b", "c")


def test_a_scored_customer_no_longer_scored_leaves_its_segment_and_audiences():
    d = decide(stored("loyal"), scored(seq=3, scores=None, cause="return"), seen(seq=2, audiences=("a",)))
    assert d.status is WriteStatus.WRITTEN
    assert (d.write.segment, d.write.ranks, d.write.audiences) == ("", (0, 0, 0, 0), ())
    assert d.write.fields == ("updated_at", format_us(T + 9))
    assert d.change is None  # no scores to announce
    assert [(m.audience, m.action, m.segment, m.scores, m.aov_cents) for m in d.moves] == [
        ("a", "exit", None, None, None)]
    assert d.scoring.segment is None and d.scoring.scores is None and d.scoring.ranks is None


def test_a_customer_never_scored_and_still_not_scored_has_nothing_to_write():
    assert decide(stored(None), scored(scores=None), None) == Decision(None)


def test_the_state_records_the_decided_scoring():
    st = stored()
    d = decide(st, scored(audiences=("a",)), None)
    assert st.segment is None  # decide changes nothing: the caller records it once the events are encoded
    remember(st, d.scoring)
    assert (st.scores, st.segment, st.boundaries_version, st.ranks, st.audiences, st.rules_fp) == (
        Scores(3, 2, 4, 1), "loyal", 1, RANKS, ("a",), "fp")


def test_a_writes_scores_read_the_same_in_any_field_order():
    """ProfileWrite.scores() reads profile_fields' layout by position and any other layout by name."""
    from stream_app.core.profile import ProfileWrite, profile_fields

    fields = profile_fields(Scores(3, 2, 4, 1), TOTALS, RANKS, T)
    pairs = list(zip(fields[::2], fields[1::2]))
    shuffled = tuple(x for pair in reversed(pairs) for x in pair)
    for f in (fields, shuffled):
        assert ProfileWrite("c1", 1, 1, "loyal", RANKS, f).scores() == ("3", "2", "4", "1")
    assert ProfileWrite("c1", 1, 1, "", (0, 0, 0, 0), ("updated_at", format_us(T))).scores() is None
    assert ProfileWrite("c1", 1, 1, "x", RANKS, ("r_score", "5")).scores() == ("5", "", "", "")


def test_profile_fields_of_every_combination_of_scores() -> None:
    """The score fields come from a cache of the 625 combinations: each says what its scores say."""
    from stream_app.core.profile import profile_fields
    from stream_app.core.segments import value_band

    for r, f, m, aov in itertools.product(range(1, 6), repeat=4):
        fields = dict(zip(*[iter(profile_fields(Scores(r, f, m, aov), TOTALS, RANKS, T))] * 2))
        assert (fields["r_score"], fields["f_score"]) == (str(r), str(f))
        assert (fields["m_score"], fields["aov_score"]) == (str(m), str(aov))
        assert fields["rfm_score"] == f"{r}{f}{m}" and fields["rfm_sum"] == str(r + f + m)
        assert fields["value_band"] == value_band(r + f + m)
