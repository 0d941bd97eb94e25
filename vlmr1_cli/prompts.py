"""The default prompt templates (the paper's), shared by recipes (training) and evaluation.

A template names its query with `{problem}` (rec, text) or `{labels}` (ovd); an answer
template is what SFT trains the model to write.
"""

from __future__ import annotations

PAPER_REC_TEMPLATE = (
    "Please provide the bounding box coordinate of the region this sentence describes: {problem}."
    " First output the thinking process in <think> </think> tags and then output the final answer"
    " in <answer> </answer> tags. Output the final answer in JSON format."
)
PAPER_OVD_TEMPLATE = (
    "Please carefully check the image and detect the following objects: {labels}. Output the bbox"
    " coordinates of detected objects in <answer></answer>. The bbox coordinate format should be:"
    ' ```json [{"bbox_2d": [x1, y1, x2, y2], "label": "object name"}] ```. If no targets are'
    ' detected in the image, simply respond with "None". First output the thinking process in'
    " <think> </think> tags and then output the final answer in <answer> </answer> tags."
)

DEFAULT_TEMPLATES: dict[str, str] = {
    "rec": PAPER_REC_TEMPLATE,
    "ovd": PAPER_OVD_TEMPLATE,
    "text": "{problem}",
}
DEFAULT_ANSWER_TEMPLATES: dict[str, str] = {
    "rec": '<think>{think}</think> <answer>{"bbox_2d": {box}}</answer>',
    "ovd": "<think>{think}</think> <answer>{objects}</answer>",
    "text": "<think>{think}</think> <answer>{solution}</answer>",
}
