"""Pure functions with no database: coordinate systems, addresses, tessellation, grid
validation and the point-in-polygon kernels."""
