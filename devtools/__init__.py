"""Development tools that stay out of the installed package: the site and image generators
the tests, the benchmark (bench/) and the bundled demo site (crawler/cli/demosite/) are made with."""
