"""Online experiments: config, serving under an arm, interleaving, analysis, power."""
