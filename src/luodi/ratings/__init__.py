"""好差评: a resident rates a closed case (a final application, a decided objection) in five
levels with an optional comment; the service centre reads the summary."""
