"""Labelled example prompts per task type: the training set of the learned task classifier.

Written for tierroute (no external data). Add examples here to teach the classifier a workload;
each list's mean embedding is that task's centroid.
"""

PROTOTYPES: dict[str, list[str]] = {
    "documentation": [
        "Write a docstring for this function.",
        "Add Google-style docstrings to every public method in this class.",
        "Generate a README for my project explaining installation and usage.",
        "Write API reference documentation for these endpoints.",
        "Summarise what this module does for the developer guide.",
        "Add comments explaining each step of this script.",
        "Write a changelog entry for the release that fixed the login bug.",
        "Document the configuration options of this service in Markdown.",
        "Explain this code in plain English for new team members.",
        "Write JSDoc comments for the exported functions.",
    ],
    "coding": [
        "Write a Python function that parses a CSV file and returns a list of dicts.",
        "Fix the bug in this JavaScript code: the loop never terminates.",
        "Implement binary search in Rust.",
        "Refactor this class to use dependency injection.",
        "Write unit tests with pytest for this function.",
        "Why does this code raise a KeyError? Here is the traceback.",
        "Write a SQL query that returns the top five customers by revenue.",
        "Convert this callback-based Node.js code to async/await.",
        "Write a regular expression that matches email addresses.",
        "Add type hints to this Python module and make mypy pass.",
    ],
    "architecture": [
        "Design a scalable architecture for a ride-sharing platform.",
        "How should I split this monolith into microservices?",
        "Compare event sourcing and CRUD for an order management system and recommend one.",
        "Design the data model and API for a multi-tenant SaaS billing system.",
        "What are the trade-offs between Kafka and RabbitMQ for our event pipeline?",
        "Propose a high-availability deployment across two regions with failover.",
        "Design a distributed rate limiter for an API gateway.",
        "How would you architect a real-time collaborative document editor?",
        "Plan the migration of our database from MySQL to PostgreSQL with zero downtime.",
        "Review this system design for bottlenecks and single points of failure.",
    ],
    "reasoning": [
        "Solve for x: 3x + 7 = 22.",
        "Prove that the square root of 2 is irrational.",
        "A train leaves at 3 pm travelling 60 km/h; another leaves at 4 pm at 80 km/h. When does it catch up?",
        "What is the probability of rolling two sixes with two dice?",
        "Compute the integral of x^2 sin(x) dx.",
        "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?",
        "Janet has 16 eggs, eats 3 and bakes with 4. How many does she sell?",
        "Find all prime numbers p such that p^2 + 2 is also prime.",
        "How many ways can 5 people sit around a round table?",
        "Explain step by step why the sum of the angles of a triangle is 180 degrees.",
    ],
    "chat": [
        "Hi! How are you today?",
        "What is the capital of Australia?",
        "Give me three ideas for a birthday party.",
        "Translate 'good morning' into French.",
        "Write a short poem about autumn.",
        "What's a good recipe for a quick weeknight dinner?",
        "Tell me a fun fact about octopuses.",
        "Recommend a few science fiction novels.",
        "Draft a polite email declining a meeting invitation.",
        "Who won the football world cup in 2018?",
    ],
}
