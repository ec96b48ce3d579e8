"""Orchestra's demo system under test: order, payment and inventory services (see README.md here)."""
