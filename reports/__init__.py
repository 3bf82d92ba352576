"""splitbench reports package."""
