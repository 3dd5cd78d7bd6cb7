"""Scene generation, label formats, datasets and joint transforms."""
