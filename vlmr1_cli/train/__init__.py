"""Training: thin wrappers that build TRL's GRPOTrainer / SFTTrainer from a recipe."""
