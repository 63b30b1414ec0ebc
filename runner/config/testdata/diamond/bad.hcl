training {
  epochs = "many"
}
