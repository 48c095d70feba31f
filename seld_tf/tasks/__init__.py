"""Tasks: the contract between the generic trainer and each kind of problem (`base`), and the tasks."""

from seld_tf.tasks.base import TASKS, Task, prepare_task, task_class

__all__ = ["TASKS", "Task", "prepare_task", "task_class"]
