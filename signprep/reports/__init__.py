"""Pictures for people: contact sheets and MP4s of samples (`contact_sheet`), confusion matrices and
reconstruction grids of training runs (`plots`)."""
