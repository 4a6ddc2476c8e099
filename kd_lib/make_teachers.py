"""Retrain the committed teacher checkpoint: ``python -m kd_lib.make_teachers``."""
from .pretrained import checkpoint_path, train_digits_teacher


def main() -> None:
    path = checkpoint_path()
    _, history = train_digits_teacher(save_to=path)
    print(f"best epoch {history.best_epoch}, val accuracy {history.best_val_accuracy:.3f} -> {path}")


if __name__ == "__main__":
    main()
