"""One segmentation job, the same in every front end: what to segment, with which model and
options, into which files (:mod:`.description`), and running it (:mod:`.run`)."""
