// The dashboard app: placeholder until the pages land.
