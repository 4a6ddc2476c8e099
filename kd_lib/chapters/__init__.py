"""The chapters' own tools: one module per chapter concept, used by that
chapter (``from kd_lib.chapters import soft_labels``). They build on the
core (:mod:`kd_lib`) and never on the runners.

- LSTM versus TCN: :mod:`.costs` (time and memory), :mod:`.gradients`,
  :mod:`.variable_length`, :mod:`.accuracy_study` (the stored tuned study)
  and :mod:`.claims` (the verdict on every claim);
- receptive field: :mod:`.receptive_fields` and :mod:`.memory_tasks`;
- soft labels: :mod:`.soft_labels` and :mod:`.calibration`;
- distillation: :mod:`.distillation_study`;
- deployment: :mod:`.streaming`, :mod:`.deployment` and :mod:`.compress`;
- forecasting: :mod:`.forecasting`.
"""
