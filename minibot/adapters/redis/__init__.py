"""Redis adapters: state shared by replicas that is neither durable nor relational."""
