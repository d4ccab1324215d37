"""Resource registry: kinds, strategies, schemas, printers."""
