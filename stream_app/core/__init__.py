"""The pure RFM engine: events, per-customer state, quintile boundaries, scores, segments.

Nothing here imports faust, kafka or redis (a test checks it): the batch job and
the streaming worker both call these functions, which is what makes them agree.
"""
