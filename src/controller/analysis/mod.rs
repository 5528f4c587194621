//! The AnalysisRun engine: metric providers, condition evaluation and run assessment.
