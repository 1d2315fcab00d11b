"""Label tasks: single- vs multi-label outputs, losses and scores
(`label_tasks`), multi-label Keras metrics, and the missing-tag task with its
baselines."""
