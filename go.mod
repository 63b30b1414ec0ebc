module github.com/ssdrunner/ssdrunner

go 1.26.8

require (
	github.com/go-viper/mapstructure/v2 v2.5.0
	github.com/sugarme/gotch v0.7.0
)

replace github.com/sugarme/gotch => ./build/gotch
