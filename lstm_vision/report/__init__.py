"""What a run reports to people: console lines, pictures, TensorBoard."""
