"""splitbench harness package."""
