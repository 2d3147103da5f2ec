"""The epoch loop's progress display: a rich progress bar on stderr (epochs + minibatches, live loss and accuracy)."""
from __future__ import annotations

__all__ = ["Progress"]


class Progress:
    """A rich progress bar on stderr (epochs + batches, live loss/accuracy), or nothing when disabled."""

    def __init__(self, enabled: bool, epochs: int, n_batches: int, done: int):
        self.enabled = enabled
        self.epochs, self.n_batches, self.done = epochs, n_batches, done

    def __enter__(self):
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                          console=Console(stderr=True), transient=False)
        self.p.__enter__()
        self.epoch_task = self.p.add_task("epochs", total=self.epochs, completed=self.done, info="")
        self.batch_task = self.p.add_task("batches", total=self.n_batches, info="")
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.p.__exit__(*exc)
        return False

    def show(self, row: dict) -> None:
        """Put a metrics row (``loss``, ``train_accuracy``, ``test_accuracy`` if present) next to the epoch bar."""
        if self.enabled:
            info = f"loss {row['loss']:.4f}  train {100 * row['train_accuracy']:.1f}%"
            if "test_accuracy" in row:
                info += f"  test {100 * row['test_accuracy']:.1f}%"
            self.p.update(self.epoch_task, info=info)

    def start_epoch(self, epoch: int) -> None:
        if self.enabled:
            self.p.reset(self.batch_task, total=self.n_batches, description=f"epoch {epoch + 1}", info="")

    def advance_batch(self, value: float) -> None:
        if self.enabled:
            self.p.update(self.batch_task, advance=1, info=f"batch loss {value:.4f}")

    def end_epoch(self, row: dict) -> None:
        if self.enabled:
            self.p.update(self.epoch_task, advance=1)
            self.show(row)
