package bottle

// HomeFor returns the HOME every exec as user gets: /root for root,
// /home/USER otherwise (the seed's rule).
func HomeFor(user string) string { return homeFor(user) }
