"""Storage in PostGIS: connections, the models and migrations, the project's own cluster,
layer specs, features, grid versions, data versions and the audit log."""
