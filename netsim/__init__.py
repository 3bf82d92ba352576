"""splitbench netsim package."""
