"""Logic that spans resources or must be transactional."""
