"""Infrastructure as code (AWS CDK): one stack and one pipeline per module (docs/deploy.md)."""
