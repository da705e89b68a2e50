"""The store and its records: the layout, containers and their limits, images, volumes, names."""
