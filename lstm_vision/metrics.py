"""Per-class figures from a confusion matrix (rows: true class, columns: predicted)."""

from __future__ import annotations


def short_name(name: str, width: int | None = None) -> str:
    """A class's name where room is short: '7 - seven' (torchvision's MNIST classes) -> '7'; other names
    as they are, cut to ``width`` characters if given ('automobile' -> 'autom')."""
    head = name.split(" - ")[0].strip() if " - " in name else name
    return head[:width] if width else head


def per_class(matrix: list[list[int]], class_names: list[str]) -> list[dict]:
    """Precision, recall, F1 and support of each class; a class never predicted (or never present)
    gets 0.0 where its denominator is 0, as scikit-learn's zero_division=0 does."""
    rows = []
    for k, name in enumerate(class_names):
        tp = matrix[k][k]
        support = sum(matrix[k])
        predicted = sum(row[k] for row in matrix)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def macro(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows) if rows else 0.0


def per_class_csv(rows: list[dict]) -> str:
    lines = ["class,precision,recall,f1,support"]
    lines += [f"{r['class']},{r['precision']:.6f},{r['recall']:.6f},{r['f1']:.6f},{r['support']}" for r in rows]
    return "\n".join(lines) + "\n"


def per_class_text(rows: list[dict]) -> str:
    """The headless table: one line per class, then the macro averages."""
    width = max(9, *(len(r["class"]) for r in rows)) + 1
    lines = ["class".ljust(width) + "precision   recall       f1  support"]
    lines += [
        f"{r['class']:<{width}}{100 * r['precision']:8.2f}%{100 * r['recall']:8.2f}%{100 * r['f1']:8.2f}%{r['support']:9d}"
        for r in rows
    ]
    lines.append(
        f"{'macro avg':<{width}}{100 * macro(rows, 'precision'):8.2f}%{100 * macro(rows, 'recall'):8.2f}%"
        f"{100 * macro(rows, 'f1'):8.2f}%{sum(r['support'] for r in rows):9d}"
    )
    return "\n".join(lines)
