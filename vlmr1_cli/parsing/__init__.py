"""Reading model answers: the one parser family for rewards and evaluation.

Everything here runs in time linear in the length of its input and never raises, whatever
the string: a policy stuck repeating itself writes exactly the degenerate text on which
`.*?` regular expressions backtrack for seconds. Tag spans and code fences are found with
`str.find` loops; the few regular expressions used have no nested or adjacent unbounded
wildcards, so each match attempt is bounded by a run that later attempts never rescan.

Two layers:
- paper-exact scanners (`extract_answer`, `json_fences`, `find_int_box`, `match_rec_format`,
  `match_think_answer`), each reproducing one regular expression of VLM-R1's reward code
  with the same acceptance and the same captured text;
- the tolerant box reader (`parse_boxes`, `parse_rec_box`) used for evaluation and for
  rewards that are not tied to the paper's exact rule.
"""

from vlmr1_cli.geometry import Box  # the one box type, re-exported for answers' users
from vlmr1_cli.parsing.boxes import ParsedBox, parse_boxes, parse_rec_box
from vlmr1_cli.parsing.paper import (
    find_int_box,
    match_rec_format,
    match_think_answer,
    parse_rec_box_vlmr1,
)
from vlmr1_cli.parsing.spans import completion_text, extract_answer, json_fences

__all__ = [
    "Box",
    "ParsedBox",
    "completion_text",
    "extract_answer",
    "find_int_box",
    "json_fences",
    "match_rec_format",
    "match_think_answer",
    "parse_boxes",
    "parse_rec_box",
    "parse_rec_box_vlmr1",
]
