"""The store and its records: the on-disk layout, containers, images, volumes, names, references."""
