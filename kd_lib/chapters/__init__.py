"""The chapters' own tools: one module per chapter concept, used by that
chapter (``from kd_lib.chapters import soft_labels``). They build on the
core (:mod:`kd_lib`) and never on the runners.

- cost and training (chapters 2-3): :mod:`.costs`, :mod:`.gradients`,
  :mod:`.variable_length`, :mod:`.accuracy_study`, :mod:`.claims`;
- receptive field (4): :mod:`.receptive_fields`, :mod:`.memory_tasks`;
- soft labels (5): :mod:`.soft_labels`, :mod:`.calibration`;
- distillation (6-7): :mod:`.distillation_study`, :mod:`.per_step`;
- deployment (8-9): :mod:`.streaming`, :mod:`.deployment`;
- forecasting (11): :mod:`.forecasting`.
"""
