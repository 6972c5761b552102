"""Facts about residents proven by departments (education, skills, social insurance …), each
with its validity period and its source; what a points policy reads beside the registry."""
