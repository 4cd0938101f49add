"""Reading CTs (files, DICOM series) and writing results (.seg.nrrd, labelmaps, previews)."""
