"""splitbench models package."""
