"""jobcenter-operator: JobCenter cluster sites on CLUSTERPRO X, reconciled over SSH."""
