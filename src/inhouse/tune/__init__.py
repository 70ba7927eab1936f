"""Domain adaptation: training examples from a tenant's documents (`data`), their answer spans (`spans`)."""
