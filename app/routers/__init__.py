"""HTTP layer: parameters, status codes and response models; no business logic."""
