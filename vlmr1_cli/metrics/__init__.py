"""Evaluation metrics: REC accuracy, COCO mAP, OVDEval NMS-AP, greedy precision/recall."""
