"""Metrics: link (Dt/Df AUROC/AUPR), node (accuracy, F1), membership inference, reports.

:func:`gnn_unlearn.evaluate` (:mod:`gnn_unlearn.evaluation`) runs them on unlearned models."""
from gnn_unlearn.metrics.link import (DF_PROTOCOLS, auroc_aupr, deleted_vs_retained_auc,
                                      gnndelete_df_auc, link_auc,
                                      link_logits, logit_stats)
from gnn_unlearn.metrics.mia import LossAttack, ShadowPosteriorAttack
from gnn_unlearn.metrics.node import accuracy, macro_f1
from gnn_unlearn.metrics.report import Report

__all__ = ["DF_PROTOCOLS", "deleted_vs_retained_auc", "gnndelete_df_auc", "auroc_aupr", "link_auc", "link_logits", "logit_stats", "LossAttack",
           "ShadowPosteriorAttack", "accuracy", "macro_f1", "Report"]
