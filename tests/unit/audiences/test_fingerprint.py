"""The audience rules' fingerprint: the same in every process for the same rules, different for different rules.

The worker compares it with the one stored beside the published boundaries on
every start; if it followed the hash seed, every restart would rescore every
customer.
"""

import os
import subprocess
import sys
from pathlib import Path

from stream_app.audiences import rules

ROOT = Path(__file__).resolve().parents[3]
CATEGORIES = [f"CAT{i:02d}" for i in range(40)]
TEXT = f"""audiences:
  - name: many_categories
    description: a set large enough that its iteration order follows the hash seed
    all:
      - {{field: categories, op: contains_any, value: [{", ".join(CATEGORIES)}]}}
      - any:
          - {{field: segment, op: in, value: [champions, loyal_customers, at_risk, cant_lose]}}
          - {{field: aov, op: gt, value: 250}}
"""

PROBE = """
import sys
from stream_app.audiences import rules
r = rules.load(sys.argv[1])
print(r.fingerprint)
print(repr(r.audiences[0].items[0][0].value))
"""


def run(path: Path, seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_two_processes_with_different_hash_seeds_agree(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(TEXT)
    first, second = run(path, "1"), run(path, "2")
    assert first[1] != second[1], "the seeds should order the set differently, else this test proves nothing"
    assert first[0] == second[0] == rules.load(path).fingerprint


def parsed(audiences):
    return rules.parse({"audiences": audiences})


A = {"name": "a", "description": "one", "all": [{"field": "aov", "op": "gt", "value": 250},
                                              {"field": "segment", "op": "in", "value": ["champions", "at_risk"]}]}
B = {"name": "b", "all": [{"any": [{"field": "f_score", "op": "gte", "value": 4},
                                   {"field": "categories", "op": "contains_any", "value": ["KADIN", "ERKEK"]}]}]}


def test_layout_descriptions_and_order_do_not_change_it():
    base = parsed([A, B]).fingerprint
    reordered = {**A, "description": "two", "all": [A["all"][1] | {"value": ["at_risk", "champions"]},
                                                    A["all"][0] | {"value": 250.0}]}
    b_reordered = {"name": "b", "all": [{"any": B["all"][0]["any"][::-1]}]}
    assert parsed([b_reordered, reordered]).fingerprint == base


def test_what_the_rules_select_changes_it():
    base = parsed([A, B]).fingerprint
    assert parsed([A]).fingerprint != base
    assert parsed([{**A, "name": "c"}, B]).fingerprint != base
    assert parsed([{**A, "all": [A["all"][0] | {"value": 250.01}, A["all"][1]]}, B]).fingerprint != base
    assert parsed([{**A, "all": [A["all"][0] | {"op": "gte"}, A["all"][1]]}, B]).fingerprint != base
    # one `any` of two conditions is not two conditions that must both hold
    split = {"name": "b", "all": [{"any": [c]} for c in B["all"][0]["any"]]}
    assert parsed([A, split]).fingerprint != base
