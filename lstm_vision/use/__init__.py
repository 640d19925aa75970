"""A trained model at work: loading it, --predict, --export."""
