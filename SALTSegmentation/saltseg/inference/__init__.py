"""From a CT to labels: preprocessing, sliding-window inference, post-processing, the pipeline."""
