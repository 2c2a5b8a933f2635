"""Every write and every emit. Routes and socket handlers validate, then call one `do_...`."""
