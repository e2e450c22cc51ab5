package usher

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// ReadHostTraits reads this host's traits and hashes each one
// (HashTrait). A trait that cannot be read here (the DMI product
// UUID is often readable by root only) is left out.
func ReadHostTraits() HostTraits {
	raw := map[string]string{
		TraitMachineID:   machineID(),
		TraitProductUUID: readTrimmed("/sys/class/dmi/id/product_uuid"),
		TraitMAC:         strings.Join(physicalMACs(), ","),
		TraitDiskSerial:  rootDiskSerial(),
	}
	raw[TraitHostname], _ = os.Hostname()
	h := HostTraits{}
	for name, v := range raw {
		if v != "" {
			h[name] = HashTrait(name, strings.ToLower(v))
		}
	}
	return h
}

// machineID returns the OS machine id, or "" where there is none.
func machineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if id := readTrimmed(p); id != "" {
			return id
		}
	}
	return ""
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// physicalMACs returns the hardware addresses of the physical network
// interfaces, sorted. On Linux an interface is physical when it has a
// device in sysfs (bridges, veths, tunnels have none); elsewhere every
// interface with an address but the loopback counts.
func physicalMACs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) == 0 {
			continue
		}
		if runtime.GOOS == "linux" {
			if _, err := os.Stat(filepath.Join("/sys/class/net", i.Name, "device")); err != nil {
				continue
			}
		}
		out = append(out, i.HardwareAddr.String())
	}
	sort.Strings(out)
	return out
}

// rootDiskSerial returns the serial number of the disk the root file
// system is on, where Linux sysfs tells it.
func rootDiskSerial() string {
	dev := rootDevice()
	if dev == "" {
		return ""
	}
	block, err := filepath.EvalSymlinks(filepath.Join("/sys/class/block", filepath.Base(dev)))
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(block, "partition")); err == nil {
		block = filepath.Dir(block) // the disk the partition is on
	}
	for _, p := range []string{"device/serial", "serial", "device/vpd_pg80"} {
		if s := strings.Trim(readTrimmed(filepath.Join(block, p)), "\x00 "); s != "" {
			return s
		}
	}
	return ""
}

// rootDevice returns the device mounted at /, from /proc/self/mountinfo.
func rootDevice() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && fields[4] == "/" && len(after) >= 2 && strings.HasPrefix(after[1], "/dev/") {
			return after[1]
		}
	}
	return ""
}
