"""Evaluation metrics (docs/metrics.md), pycocotools-exact where the paper uses pycocotools.

- `rec.rec_scores`: REC Acc@0.5, Acc@0.1 ... 0.9 and @0.5:0.95, centre accuracy, mean IoU
  (standard, or VLM-R1's discrete `> 0.5`).
- `coco.coco_evaluate`: COCO bbox mAP, bit-identical to COCOeval (`ap` is its core).
- `nms_ap.nms_ap_evaluate`: OVDEval's GT-anchored NMS, then COCO mAP.
- `greedy.greedy_pr`: greedy precision / recall at IoU 0.5.
- `ovdeval.ovdeval_average`: VLM-R1's 5-group OVDEval average.
- `scoring.score_files`: `vlmr1 evaluate --gt … --results … --metric …`.
- `pycoco`: quiet pycocotools references used by tests, benchmarks and rare fallbacks.
"""
