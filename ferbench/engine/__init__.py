"""Training and prediction for one fold: device choice, augmentation, fit, predict."""
