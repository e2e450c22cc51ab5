package client

// MachineSecretOf exposes machineSecret to the tests.
var MachineSecretOf = machineSecret
