// Package all links every component into a program: importing it runs the components'
// registrations.
package all

import (
	_ "github.com/ssdrunner/ssdrunner/components/anchors"
	_ "github.com/ssdrunner/ssdrunner/components/backbone"
	_ "github.com/ssdrunner/ssdrunner/components/dataset"
	_ "github.com/ssdrunner/ssdrunner/components/dataset/shapes" // registers "shapes"
	_ "github.com/ssdrunner/ssdrunner/components/head"
	_ "github.com/ssdrunner/ssdrunner/components/loss"
	_ "github.com/ssdrunner/ssdrunner/components/metric"
	_ "github.com/ssdrunner/ssdrunner/components/optimizer"
	_ "github.com/ssdrunner/ssdrunner/components/scheduler"
	_ "github.com/ssdrunner/ssdrunner/components/transform"
)
